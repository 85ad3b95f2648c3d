"""The web interface (`archiver serve`): the app, its templates and static files, and pywb replay on its own origin."""
