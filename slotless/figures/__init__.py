"""Figure code of the book's chapters: one module per chapter, each function draws one figure from data it is given."""
