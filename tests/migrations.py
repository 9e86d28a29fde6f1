"""Moving the test database to a given migration state, to test what an upgrade does to rows
that exist before it."""
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(targets):
    """Migrate to `targets` ([(app, migration name)]); the apps as they were there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def migrate_to_latest():
    """Every app as it is now, as every other test expects the database."""
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
