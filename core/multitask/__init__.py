"""The Two inputs, two outputs lab: glyph models with one or two inputs and heads, one weighted loss."""
