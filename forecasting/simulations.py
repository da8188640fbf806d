"""A run's simulations as stored: which open deal won in which simulation, and each simulation's total.

The percentiles and roll-ups of a run summarise its simulations; insights asks a question they cannot
answer ("how much does the chance of target move if this deal is won?"), so the run keeps the
simulations themselves in `RunSimulation.data`: one compressed NumPy archive (the win matrix packed to
a bit per deal per simulation). Plain: no Django here; `forecasting.services` writes, `load` reads.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import numpy as np

_FORMAT = 1


@dataclass(frozen=True)
class StoredSimulation:
    """One run's period, simulation by simulation. Deal arrays are aligned; simulation arrays too.

    `totals` is what the run's percentiles describe (blended with the run rate when the workspace's
    backtest says so); `raw_totals` the engine's own, whose rank order is the same and which are the
    sum of the deals' wins, the new business and what already closed won.
    """

    deal_ids: np.ndarray  # int64, N
    owner_ids: np.ndarray  # int64, N (0: no owner), as of the run
    amount: np.ndarray  # float64, N, in the workspace currency
    probability: np.ndarray  # float64, N
    won: np.ndarray  # bool, N x S
    totals: np.ndarray  # float64, S
    raw_totals: np.ndarray  # float64, S
    new_business: np.ndarray  # float64, S

    @property
    def sims(self) -> int:
        return int(self.totals.shape[0])


# zlib's fastest level: a third of the default's CPU per stored run for 6% more bytes (demo: 281 kB against 265 kB).
COMPRESS_LEVEL = 1


def pack(sim: StoredSimulation) -> bytes:
    """What `np.savez_compressed` writes (a zip of .npy members, read back by `np.load`), compressed faster."""
    arrays = {
        "format": np.array([_FORMAT, sim.sims]),
        "deal_ids": sim.deal_ids.astype(np.int64),
        "owner_ids": sim.owner_ids.astype(np.int64),
        "amount": sim.amount.astype(np.float64),
        "probability": sim.probability.astype(np.float64),
        "won": np.packbits(sim.won.astype(bool), axis=1),
        "totals": sim.totals.astype(np.float64),
        "raw_totals": sim.raw_totals.astype(np.float64),
        "new_business": sim.new_business.astype(np.float64),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, mode="w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
        for name, values in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, values, allow_pickle=False)
    return buffer.getvalue()


def unpack(data: bytes) -> StoredSimulation:
    with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as archive:
        version, sims = (int(v) for v in archive["format"])
        if version != _FORMAT:
            raise ValueError(f"Unknown stored simulation format {version}.")
        deal_ids = archive["deal_ids"]
        won = (
            np.unpackbits(archive["won"], axis=1, count=sims).astype(bool)
            if len(deal_ids)
            else np.zeros((0, sims), bool)
        )
        return StoredSimulation(
            deal_ids=deal_ids,
            owner_ids=archive["owner_ids"],
            amount=archive["amount"],
            probability=archive["probability"],
            won=won,
            totals=archive["totals"],
            raw_totals=archive["raw_totals"],
            new_business=archive["new_business"],
        )
