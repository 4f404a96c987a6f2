"""BBM92 QKD, then the CHSH test, between Alice and Bob (python examples/api/qkd_chsh.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stack.api import AppContext, run_apps
from stack.api.apps import bbm92, chsh
from stack.scenario import load

SCENARIO = Path(__file__).with_name("pair.toml")
results: dict[str, Any] = {}


async def alice(ctx: AppContext) -> None:
    results["qkd"] = await bbm92(ctx, "bob", 2000, "create", block=500)
    results["chsh"] = await chsh(ctx, "bob", 2000, "create")


async def bob(ctx: AppContext) -> None:
    await bbm92(ctx, "alice", 2000, "recv", block=500)
    await chsh(ctx, "alice", 2000, "recv")


def main() -> None:
    run_apps(load(SCENARIO), {"alice": alice, "bob": bob})
    qkd, test = results["qkd"], results["chsh"]
    print(f"BBM92: {qkd.sifted} of {qkd.pairs} sifted, QBER {qkd.qber:.4f} on {qkd.sample} bits, "
          f"{qkd.secret_bits:.0f} secret bits, {qkd.secret_bits_per_second:.0f} per emulated second")
    print(f"CHSH: S = {test.s:.3f} ± {test.s_error:.3f}")


if __name__ == "__main__":
    main()
