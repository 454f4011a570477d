"""Figure-drawing code of the book's chapters, one module per chapter."""
