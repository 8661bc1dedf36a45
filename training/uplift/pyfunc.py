"""The MLflow pyfunc wrapper of the uplift model, so MLflow's own tools
(``mlflow.pyfunc.load_model``, ``mlflow models serve``) can score it: a feature frame in, one
column per retention action out.

Serving does not use it: it reads the boosters natively (``load_uplift``). Imported only when the
model is logged or loaded through pyfunc (it imports MLflow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from training.encode import encode
from training.uplift.model import ARTIFACT_DIR, UpliftModel


class UpliftPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """Feature frame (the service's features) -> change in P(churn) per retention action."""

    def load_context(self, context: Any) -> None:
        self.model = UpliftModel.load(Path(context.artifacts[ARTIFACT_DIR]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        x = encode(model_input, self.model.spec)
        out = self.model.effects(x.to_numpy())
        return pd.DataFrame(out, columns=list(self.model.actions), index=x.index)
