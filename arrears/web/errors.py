"""Error pages that say what happened, never a traceback."""
from flask import render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError, ProgrammingError

from ..extensions import db


def init_app(app):
    @app.errorhandler(404)
    def not_found(_error):
        return render_template("error.html", title=_("Page not found"),
                               message=_("The page you are looking for does not exist.")), 404

    @app.errorhandler(403)
    def forbidden(_error):
        return render_template("error.html", title=_("Not allowed"),
                               message=_("Your role does not allow this action.")), 403

    @app.errorhandler(405)
    def method_not_allowed(_error):
        return render_template("error.html", title=_("Not allowed"),
                               message=_("This address does not accept that kind of request.")), 405

    @app.errorhandler(CSRFError)
    def csrf_failed(_error):
        return render_template("error.html", title=_("The form has expired"),
                               message=_("Please go back, reload the page and submit the form again.")), 400

    @app.errorhandler(OperationalError)
    @app.errorhandler(ProgrammingError)
    def database_unavailable(_error):
        db.session.rollback()
        return render_template("error.html", title=_("Database unavailable"),
                               message=_("The database is not set up or cannot be reached. Run make run or "
                                         "flask --app wsgi arrears init-db.")), 503

    @app.errorhandler(500)
    def server_error(_error):
        db.session.rollback()
        return render_template("error.html", title=_("Something went wrong"),
                               message=_("The request could not be completed; nothing was changed.")), 500
