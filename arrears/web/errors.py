"""Error pages that say what happened, never a traceback."""
from flask import render_template
from sqlalchemy.exc import OperationalError, ProgrammingError

from ..extensions import db


def init_app(app):
    @app.errorhandler(404)
    def not_found(_error):
        return render_template("error.html", title="页面不存在", message="您要找的页面不存在。"), 404

    @app.errorhandler(OperationalError)
    @app.errorhandler(ProgrammingError)
    def database_unavailable(_error):
        db.session.rollback()
        return render_template("error.html", title="数据库不可用",
                               message="数据库尚未初始化或暂时无法连接。请运行 make run 或 "
                                       "flask --app wsgi arrears init-db。"), 503

    @app.errorhandler(500)
    def server_error(_error):
        db.session.rollback()
        return render_template("error.html", title="出错了", message="处理请求时出错，操作未完成，数据没有改动。"), 500
