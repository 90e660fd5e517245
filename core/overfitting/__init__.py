"""The Overfitting and tuning lab: overfitting, hyperparameter search and transfer learning."""
