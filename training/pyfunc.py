"""MLflow pyfunc wrappers of the multi-booster models, so MLflow's own tools
(``mlflow.pyfunc.load_model``, ``mlflow models serve``) can score them: a feature frame in, one
column per product (propensity) or per retention action (uplift) out.

Serving does not use them: it reads the boosters natively (``load_propensity``, ``load_uplift``).
Imported only when a model is logged or loaded through pyfunc (it imports MLflow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from training.encode import encode
from training.propensity.model import ARTIFACT_DIR as PROPENSITY_DIR
from training.propensity.model import PropensityModel
from training.uplift.model import ARTIFACT_DIR as UPLIFT_DIR
from training.uplift.model import UpliftModel


class PropensityPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """Feature frame (the service's features) -> calibrated P(open) per product."""

    def load_context(self, context: Any) -> None:
        self.model = PropensityModel.load(Path(context.artifacts[PROPENSITY_DIR]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        x = encode(model_input, self.model.spec)
        out = self.model.predict_proba(x)
        return pd.DataFrame(out, columns=list(self.model.products), index=x.index)


class UpliftPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """Feature frame (the service's features) -> change in P(churn) per retention action."""

    def load_context(self, context: Any) -> None:
        self.model = UpliftModel.load(Path(context.artifacts[UPLIFT_DIR]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        x = encode(model_input, self.model.spec)
        out = self.model.effects(x.to_numpy())
        return pd.DataFrame(out, columns=list(self.model.actions), index=x.index)
