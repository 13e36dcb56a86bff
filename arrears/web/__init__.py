"""The web application: one blueprint per area. Views validate, call a service, redirect."""


def init_app(app):
    from .dashboard import bp as dashboard_bp
    from .errors import init_app as init_errors
    app.register_blueprint(dashboard_bp)
    init_errors(app)
