"""Shared by several algorithms; each copies it in through `repository.include`."""


def greet(name):
    return f"Hello, {name}!"
