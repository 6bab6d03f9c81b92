def seed_surveys(ctx): pass
