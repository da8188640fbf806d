from django.apps import AppConfig


class SimilarityConfig(AppConfig):
    name = "similarity"
