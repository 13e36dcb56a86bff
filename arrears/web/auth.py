"""Logging in and out."""
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ..extensions import login_manager
from ..services.auth import LoginFailed, LoginLocked, log_in, log_out, session_user

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField("user name", validators=[DataRequired(), Length(max=100)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=200)])


@login_manager.user_loader
def load_user(token):
    user = session_user(token)
    if user is not None:
        user.session_token = token
    return user


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form; log in with a fresh session."""
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user, token = log_in(form.username.data, form.password.data, request.remote_addr or "?")
        except LoginLocked:
            return render_template("auth/login.html", form=form,
                                   error=_("Too many failed logins. Please wait 15 minutes and try again.")), 429
        except LoginFailed:
            return render_template("auth/login.html", form=form, error=_("Wrong user name or password.")), 200
        language = session.get("lang")
        session.clear()  # a new session at login: nothing carried over from before
        if language:
            session["lang"] = language
        user.session_token = token
        login_user(user)
        flash(_("Welcome, %(name)s.", name=user.username), "success")
        target = request.args.get("next") or ""
        if not target.startswith("/") or target.startswith("//"):
            target = url_for("dashboard.index")
        return redirect(target)
    return render_template("auth/login.html", form=form, error=None)


@bp.post("/logout")
def logout():
    """Revoke the session on the server and forget it in the browser."""
    if current_user.is_authenticated:
        log_out(current_user.get_id())
    logout_user()
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))
