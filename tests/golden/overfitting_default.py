"""Overfitting lab, as PyTorch code: an MLP on the digits, with a validation set.

Run it next to data.csv: python train.py [--epochs N]. It writes every step's training loss
to losses.csv and every epoch's losses to epochs.csv; on the CPU with one thread
(OMP_NUM_THREADS=1) these equal the app's, bit for bit.
"""

import argparse
import copy
import math

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler

# The settings (the app's sliders)
SEED = 0  # slider "Weights and batches seed": 0
EPOCHS = 60  # slider "Epochs": 60
BATCH_SIZE = 32  # slider "Batch size": 32
PATIENCE = 0  # slider "Early stopping: patience (epochs)": 0
N_FEATURES = 64  # inputs per example in data.csv
N_CLASSES = 10  # classes in data.csv
SIDE = 8  # each example is a SIDE x SIDE image, row by row


def stream_seed(seed, *path):
    """A seed of its own for each random stream of the run (batch order, augmentation, each dropout
    layer), derived from SEED as the app derives it, so that no stream depends on another."""
    return int(np.random.SeedSequence([seed % 2**64, *path]).generate_state(1)[0])


# The data: 100 training examples (slider "Training examples": 100), a validation set that picks
# the settings and the epoch, and a test set kept aside until the end (slider "Split seed": 0)
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
val_set = TableDataset(table[table["split"] == "validation"])
test_set = TableDataset(table[table["split"] == "test"])
order = EpochShuffle(len(train_set), torch.Generator().manual_seed(stream_seed(SEED, 1)))
# without drop_last: every example once per epoch, the last batch possibly smaller
train_loader = DataLoader(train_set, batch_size=BATCH_SIZE, sampler=order)


# The model: DEPTH hidden layers of WIDTH units, each followed by dropout, then one output layer
DEPTH = 2  # slider "Hidden layers": 2
WIDTH = 256  # slider "Units per layer": 256
DROPOUT = 0.0  # slider "Dropout p (after each hidden layer)": 0.0


class SeededDropout(nn.Module):
    """nn.Dropout(p) with masks from a generator of its own: in train mode each value is zeroed with
    probability p and the rest scaled by 1 / (1 - p); in eval mode it does nothing."""

    def __init__(self, p, seed):
        super().__init__()
        self.p = p
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = torch.empty_like(x).bernoulli_(1 - self.p, generator=self.generator)
        return x * keep.div_(1 - self.p)


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
        self.output = nn.Linear(width_in, N_CLASSES)

    def forward(self, x):  # (batch, N_FEATURES) -> (batch, N_CLASSES)
        return self.output(self.hidden(x))


torch.manual_seed(SEED)  # PyTorch's default initial weights, drawn layer by layer from this seed
model = MLP()


# The optimizer (weight decay is its weight_decay), its schedule and the loss
# slider "Optimizer": adam
# slider "Learning rate": 0.001
# slider "Beta 1 (momentum)": 0.9
# slider "Beta 2 (squared gradients)": 0.999
# slider "Weight decay": 0.0
optimizer = torch.optim.Adam(model.parameters(), lr=0.001, betas=(0.9, 0.999), weight_decay=0.0)
STEPS = EPOCHS * len(train_loader)
scheduler = None  # slider "Learning-rate schedule": none
loss_fn = nn.CrossEntropyLoss()


def evaluate(dataset):
    """Loss and accuracy on a whole split, in eval mode (dropout off), without gradients."""
    model.eval()
    with torch.no_grad():
        out = model(dataset.x)
        accuracy = (out.argmax(dim=1) == dataset.y).float().mean()
        return loss_fn(out, dataset.y).item(), accuracy.item()


# Training: zero_grad -> forward -> loss -> backward -> step per batch, then the validation set
parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--epochs", type=int, default=EPOCHS, help="stop after this many")
run_epochs = min(parser.parse_args().epochs, EPOCHS)
losses, history = [], []  # each step's loss; per epoch: (epoch, train loss, val loss, val acc)
best_loss, best_epoch = evaluate(val_set)[0], 0  # epoch 0: the initial weights
best_state = copy.deepcopy(model.state_dict())
diverged = False
for epoch in range(1, run_epochs + 1):
    model.train()
    running_loss = 0.0
    for x, y in train_loader:  # no augmentation (slider "Augment (shift and turn the digits)": off)
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        # the gradient's total norm (max_norm=inf measures it and scales nothing)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=math.inf).item()
        losses.append(loss.item())
        if not (math.isfinite(losses[-1]) and math.isfinite(grad_norm)):
            diverged = True
            break
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        running_loss += losses[-1]
    if diverged:
        print(f"diverged at step {len(losses)}: the loss or the gradient is NaN or infinite")
        break
    # the epoch's mean training loss, then the validation set
    val_loss, val_accuracy = evaluate(val_set)
    history.append((epoch, running_loss / len(train_loader), val_loss, val_accuracy))
    print(f"epoch {epoch}: train loss {history[-1][1]:.4f}, validation loss {val_loss:.4f}")
    if val_loss < best_loss:
        best_loss, best_epoch = val_loss, epoch
        best_state = copy.deepcopy(model.state_dict())
    if PATIENCE and epoch - best_epoch >= PATIENCE:
        print(f"stopped early after epoch {epoch}: no better validation loss in {PATIENCE} epochs")
        break

if PATIENCE and not diverged and best_epoch != epoch:  # early stopping ends with the best weights
    model.load_state_dict(best_state)
    print(f"the weights of epoch {best_epoch} were put back")


# The test set, once, at the end
test_loss, test_accuracy = evaluate(test_set)
print(f"test loss {test_loss:.4f}, test accuracy {test_accuracy:.0%}")
with open("losses.csv", "w") as f:
    f.write("step,loss\n")
    f.writelines(f"{i},{v!r}\n" for i, v in enumerate(losses, start=1))
with open("epochs.csv", "w") as f:
    f.write("epoch,train_loss,val_loss,val_accuracy\n")
    f.writelines(",".join(map(repr, row)) + "\n" for row in history)
