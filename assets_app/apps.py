from django.apps import AppConfig


class AssetsAppConfig(AppConfig):
    name = "assets_app"
    label = "assets_app"
    verbose_name = "Assets"
