def apply(input):
    """Algorithmia calls apply() with the request's input."""
    return "Hello, {}!".format(input)
