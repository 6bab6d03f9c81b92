def register_surveys_menu(app):
    pass
