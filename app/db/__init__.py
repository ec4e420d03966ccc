"""The durable store: SQLAlchemy models, sessions, migrations and the batch writer."""
