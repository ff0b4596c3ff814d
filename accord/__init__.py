# Loaded with Django so that shared_task binds to Accord's Celery app in every process.
from accord.celery import app as celery_app

__all__ = ("celery_app",)
