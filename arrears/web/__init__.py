"""The web application: one blueprint per area. Views validate, call a service, redirect."""
from flask import request, session
from flask_babel import lazy_gettext as _l

from ..extensions import babel, bootstrap, csrf, login_manager

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; "
                                "form-action 'self'"),
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def select_language():
    """The language code the user chose (remembered in the session and a cookie), else Chinese."""
    from flask import current_app
    languages = current_app.config["LANGUAGES"]
    for choice in (session.get("lang"), request.cookies.get("lang")):
        if choice in languages:
            return choice
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_locale():
    # Babel reads "zh_CN" as zh_Hans_CN: that is the name of the catalog's folder.
    return select_language()


def init_app(app):
    from .admin import bp as admin_bp
    from .auth import bp as auth_bp
    from .best_time import bp as best_time_bp
    from .cases import bp as cases_bp
    from .dashboard import bp as dashboard_bp
    from .errors import init_app as init_errors
    from .formats import init_app as init_formats
    from .guides import bp as guides_bp
    from .household import bp as household_bp
    from .households import bp as households_bp
    from .language import bp as language_bp
    from .members import bp as members_bp
    from .notices import bp as notices_bp
    from .performance import bp as performance_bp
    from .relief import bp as relief_bp
    from .verify import bp as verify_bp
    from .visits import bp as visits_bp
    from .warm import init_app as init_warm

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "warning"
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    bootstrap.init_app(app)
    init_formats(app)

    for blueprint in (auth_bp, dashboard_bp, language_bp, households_bp, household_bp, admin_bp,
                      notices_bp, verify_bp, members_bp, cases_bp, relief_bp, guides_bp, visits_bp,
                      performance_bp, best_time_bp):
        app.register_blueprint(blueprint)
    init_errors(app)
    init_warm(app)

    @app.after_request
    def security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.context_processor
    def layout_context():
        def nav_items():
            from flask_login import current_user
            items = [("dashboard.index", _l("Overview"), None), ("households.index", _l("Households"), None),
                     ("notices.batches", _l("Print notices"), ("clerk", "manager")),
                     ("relief.index", _l("Relief and plans"), ("clerk", "manager")),
                     ("cases.limitation", _l("Limitation watch"), ("clerk", "manager")),
                     ("visits.index", _l("Visit sheets"), ("clerk", "manager")),
                     ("guides.index", _l("Call guides"), ("clerk", "manager", "admin")),
                     ("performance.index", _l("Performance"), ("clerk", "manager", "admin")),
                     ("admin.index", _l("Administration"), ("admin",))]
            return [(endpoint, label) for endpoint, label, roles in items
                    if endpoint in app.view_functions and (roles is None or current_user.has_role(*roles))]
        return {"current_language": select_language(), "languages": app.config["LANGUAGES"],
                "nav_items": nav_items, "role_label": lambda role: ROLE_LABELS.get(role, role)}


ROLE_LABELS = {"clerk": _l("Clerk"), "manager": _l("Manager"), "lawyer": _l("Lawyer"), "admin": _l("Administrator")}
