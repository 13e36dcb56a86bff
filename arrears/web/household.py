"""One household: statement, timeline and the day's actions."""
from flask import Blueprint

bp = Blueprint("household", __name__, url_prefix="/households")
