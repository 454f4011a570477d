"""Figure-drawing functions of the book, one module per chapter: each takes the data and draws."""
