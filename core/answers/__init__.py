"""Grounded answers: who may ask, what fits the model's context, the prompt, the answer itself."""
