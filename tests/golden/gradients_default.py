"""Gradients lab, as PyTorch code: a multi-layer perceptron on the spiral data.

Run it next to data.csv: python train.py [--steps N]. It writes its training loss per step to
losses.csv; on the CPU with one thread (OMP_NUM_THREADS=1) these equal the app's, bit for bit.
"""

import argparse
import math

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler

# The settings (the app's sliders)
SEED = 0  # slider "Weights and batches seed": 0
STEPS = 400  # slider "Steps": 400
BATCH_SIZE = 32  # slider "Batch size": 32
N_FEATURES = 2  # inputs per example in data.csv
N_CLASSES = 2  # classes in data.csv
N_OUTPUTS = N_CLASSES  # slider "Loss": cross_entropy


# The data: the app's split, already standardised (mean 0, std 1 by the training rows)
table = pd.read_csv("data.csv")
features = [c for c in table.columns if c.startswith("x")]


class TableDataset(torch.utils.data.Dataset):
    """One split of the table: (features, class index) per row."""

    def __init__(self, rows):
        self.x = torch.tensor(rows[features].to_numpy(), dtype=torch.float32)
        self.y = torch.tensor(rows["label"].to_numpy(), dtype=torch.int64)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


class EpochShuffle(Sampler):
    """A new random order of the examples every epoch: one torch.randperm each, from `generator`."""

    def __init__(self, n, generator):
        self.n, self.generator = n, generator

    def __len__(self):
        return self.n

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=self.generator).tolist())


train_set = TableDataset(table[table["split"] == "train"])
test_set = TableDataset(table[table["split"] == "test"])
# the batch order has its own generator: it does not depend on how the weights were drawn
order = EpochShuffle(len(train_set), torch.Generator().manual_seed(SEED))
train_loader = DataLoader(train_set, batch_size=BATCH_SIZE, sampler=order, drop_last=True)


# The model: DEPTH hidden layers of WIDTH units, then one output layer
DEPTH = 4  # slider "Hidden layers": 4
WIDTH = 16  # slider "Units per layer": 16


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        layers = []
        width_in = N_FEATURES
        for _ in range(DEPTH):
            layers.append(nn.Linear(width_in, WIDTH))
            layers.append(nn.ReLU())  # slider "Activation": relu
            width_in = WIDTH
        self.hidden = nn.Sequential(*layers)
        self.output = nn.Linear(width_in, N_OUTPUTS)

    def forward(self, x):  # (batch, N_FEATURES) -> (batch, N_OUTPUTS)
        return self.output(self.hidden(x))


torch.manual_seed(SEED)  # PyTorch's default initial weights, drawn layer by layer from this seed
model = MLP()


# Initialization: PyTorch's default, drawn as the model was made (slider "Initializer": default)


# The optimizer, its schedule and the loss
# slider "Optimizer": adam
# slider "Learning rate": 0.01
# slider "Beta 1 (momentum)": 0.9
# slider "Beta 2 (squared gradients)": 0.999
# slider "Weight decay": 0.0
optimizer = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.9, 0.999), weight_decay=0.0)
scheduler = None  # slider "Learning-rate schedule": none
loss_fn = nn.CrossEntropyLoss()  # slider "Loss": cross_entropy


# Training: zero_grad -> forward -> loss -> backward -> (clip) -> step
def train(model, optimizer, scheduler, run_steps):
    """Train for run_steps steps (fewer if it diverges); returns the training loss of every step."""
    losses = []
    step = 0
    model.train()
    while step < run_steps:
        for x, y in train_loader:  # each epoch: a new random order
            step += 1
            optimizer.zero_grad()
            out = model(x)
            loss = loss_fn(out, y)
            loss.backward()
            # the gradient's total norm (max_norm=inf measures it and scales nothing)
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=math.inf).item()
            losses.append(loss.item())
            if not (math.isfinite(losses[-1]) and math.isfinite(grad_norm)):
                print(f"diverged at step {step}: the loss or the gradient is NaN or infinite")
                return losses
            # no clipping (slider "Gradient clipping (max norm)": 0.0)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            if step % 50 == 0:
                print(f"step {step}: loss {losses[-1]:.4f}")
            if step == run_steps:
                return losses
    return losses


def test_accuracy(model):
    """The whole test set, in eval mode, without gradients."""
    model.eval()
    with torch.no_grad():
        out = model(test_set.x)
        predicted = (out[:, 0] > 0).long() if out.shape[1] == 1 else out.argmax(dim=1)
        return (predicted == test_set.y).float().mean().item()


# Train, then evaluate on the test set
parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--steps", type=int, default=STEPS, help="stop after this many steps")
run_steps = min(parser.parse_args().steps, STEPS)
losses = train(model, optimizer, scheduler, run_steps)
with open("losses.csv", "w") as f:
    f.write("step,loss\n")
    f.writelines(f"{i},{v!r}\n" for i, v in enumerate(losses, start=1))
accuracy = test_accuracy(model)
print(f"{len(losses)} steps, last training loss {losses[-1]:.4f}, test accuracy {accuracy:.0%}")
