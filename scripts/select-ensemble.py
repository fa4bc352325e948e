#!/usr/bin/env python3
"""Choose soft-voting ensemble weights on the validation split (never on test).

Greedy ensemble selection with replacement (Caruana et al., 2004): start empty; at each step add the
model whose addition gives the best validation accuracy (ties: the lower mean negative log-likelihood);
a model's weight is how often it was added. The best step wins. Input: one CSV per model, written by
`fer-eval --probabilities` on the validation split (all with or all without --tta); with --test, the
same models' test CSVs, in the same order, for the report of the chosen weights only.

  scripts/select-ensemble.py --val a.val.csv b.val.csv ... [--test a.test.csv b.test.csv ...] [--steps 25]

Prints the weights and the fer-eval command that evaluates them.
"""
import argparse
import csv
import math
import sys


def read_probabilities(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2 or rows[0][:2] != ["source", "label"]:
        sys.exit(f"{path}: not a fer-eval --probabilities file (header 'source,label,...' expected)")
    classes = rows[0][2:]
    sources, labels, probabilities = [], [], []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != 2 + len(classes):
            sys.exit(f"{path}:{number}: {len(row)} fields, expected {2 + len(classes)}")
        if row[1] not in classes:
            sys.exit(f"{path}:{number}: unknown class '{row[1]}'")
        sources.append(row[0])
        labels.append(classes.index(row[1]))
        probabilities.append([float(v) for v in row[2:]])
    return {"path": path, "classes": classes, "sources": sources, "labels": labels, "p": probabilities}


def check_same_images(models):
    first = models[0]
    for m in models[1:]:
        if m["classes"] != first["classes"] or m["sources"] != first["sources"]:
            sys.exit(f"{m['path']} and {first['path']} do not hold the same images and classes in the same order")


def score(models, weights):
    """Accuracy and mean NLL of the weighted mean of the models' probabilities."""
    total = sum(weights)
    labels = models[0]["labels"]
    correct, nll = 0, 0.0
    used = [(m["p"], w / total) for m, w in zip(models, weights) if w]
    for i, label in enumerate(labels):
        row = [0.0] * len(models[0]["classes"])
        for p, share in used:
            for c, v in enumerate(p[i]):
                row[c] += share * v
        best = max(range(len(row)), key=row.__getitem__)
        correct += best == label
        nll -= math.log(max(row[label], 1e-12))
    return correct / len(labels), nll / len(labels)


def select(models, steps):
    weights = [0] * len(models)
    history = []
    for _ in range(steps):
        candidates = []
        for k in range(len(models)):
            trial = list(weights)
            trial[k] += 1
            accuracy, nll = score(models, trial)
            candidates.append((accuracy, -nll, k, trial))
        accuracy, neg_nll, k, weights = max(candidates, key=lambda c: (c[0], c[1]))
        history.append((accuracy, -neg_nll, list(weights)))
    return history


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--val", nargs="+", required=True, help="validation probabilities, one CSV per model")
    parser.add_argument("--test", nargs="+", help="the same models' test probabilities (reported, not used)")
    parser.add_argument("--steps", type=int, default=25, help="greedy steps (the largest total weight)")
    args = parser.parse_args()
    if args.test and len(args.test) != len(args.val):
        sys.exit("--test needs one CSV per --val CSV, in the same order")

    val = [read_probabilities(p) for p in args.val]
    check_same_images(val)
    history = select(val, args.steps)
    for step, (accuracy, nll, weights) in enumerate(history, start=1):
        print(f"step {step:2d}: val accuracy {100 * accuracy:.2f} %  nll {nll:.4f}  weights {weights}")
    # The best validation accuracy; among equal ones, the lowest NLL.
    best_accuracy, best_nll, best = max(history, key=lambda h: (h[0], -h[1]))
    print(f"\nchosen on val: weights {best} (val accuracy {100 * best_accuracy:.2f} %, nll {best_nll:.4f})")
    for path, w in zip(args.val, best):
        print(f"  {w:3d}  {path}")
    if args.test:
        test = [read_probabilities(p) for p in args.test]
        check_same_images(test)
        accuracy, nll = score(test, best)
        print(f"test accuracy of these weights: {100 * accuracy:.2f} % (nll {nll:.4f})")


if __name__ == "__main__":
    main()
