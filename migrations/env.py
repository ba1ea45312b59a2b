"""Alembic environment: the engine comes from colrec (config.attributes), never from alembic.ini."""

from alembic import context

from colrec_store.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    # Serialise concurrent upgrades (two jobs starting at once) on one advisory lock.
    connection.exec_driver_sql("select pg_advisory_lock(74657201)")
    try:
        context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        connection.exec_driver_sql("select pg_advisory_unlock(74657201)")
        connection.commit()
