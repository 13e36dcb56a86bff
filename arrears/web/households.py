"""The household list: filters, search, sort, pages and export."""
from flask import Blueprint

bp = Blueprint("households", __name__, url_prefix="/households")
