def apply(input):
    return str(input).upper()
