"""Explain a movie review with the bundled MiniLM routing head: credit per token and per sentence.

Run: python examples/explain_text.py ["A review."]
"""

from __future__ import annotations

import argparse

from creditlens.attribution.zoo import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", nargs="?", default="A gorgeous, witty film. The ending drags, though.")
    args = parser.parse_args()

    model = load_model("rotten-tomatoes-minilm")
    explanation = model.classifier.explain([args.text])
    top = explanation.top_k(2)
    print("prediction:", ", ".join(f"{n} ({p:.2f})" for n, p in zip(top.names[0], top.probs[0].tolist())))
    cls = top.names[0][0]
    per_token = explanation.per_position(cls)[0]  # [n_pos], summed over depths
    visible = [i for i in range(len(per_token)) if not bool(explanation.hidden[0, i])]
    tokens = explanation.positions.tokens[0]
    ranked = sorted(visible, key=lambda i: -float(per_token[i]))[:5]
    print(
        f"most credited tokens for {cls}:",
        ", ".join(f"{tokens[i]!r} {float(per_token[i]):+.2f}" for i in ranked),
    )
    for sentence, credit in zip(explanation.sentences(0), explanation.per_sentence(cls)[0].tolist()):
        print(f"{credit:+8.2f}  {sentence}")


if __name__ == "__main__":
    main()
