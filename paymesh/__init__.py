"""The tools people run: the `paymesh` command, the local eventing engine, deploy and rollback.

Nothing under shared/ or functions/ imports this package.
"""
