from libs.common.greeting import greet


def apply(input):
    return greet(input)
