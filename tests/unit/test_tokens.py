"""Call tokens from a pooled random buffer: the right shape, never repeated, refilled."""

from __future__ import annotations

from actorbus._wire.tokens import TokenPool


def test_tokens_are_16_hex_digits_and_never_repeat_across_refills() -> None:
    pool = TokenPool(tokens=4)  # refilled every 4 tokens
    tokens = [pool.next() for _ in range(1000)]
    assert all(len(t) == 16 and int(t, 16) >= 0 for t in tokens)
    assert len(set(tokens)) == len(tokens)


def test_two_pools_draw_different_tokens() -> None:
    assert TokenPool().next() != TokenPool().next()
