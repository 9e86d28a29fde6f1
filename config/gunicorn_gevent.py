"""gunicorn's gevent worker (GUNICORN_WORKER_CLASS=gevent), answering what gunicorn refuses itself
(a head it cannot parse or over its limits) with the API's problems, as the threaded worker does.
A module of its own, so that the threaded worker never imports gevent."""
from gunicorn.workers.ggevent import GeventWorker

from config.gunicorn_worker import ProblemAnswers


class ProblemGeventWorker(ProblemAnswers, GeventWorker):
    pass
