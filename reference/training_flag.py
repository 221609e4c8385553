"""The Keras training-flag rule: the mode a BatchNormalization runs in, from the call's context, the flag it is
given and its trainable attribute, under a profile's ``training_flag`` section (specs/behaviours/keras.yaml)."""
from dataclasses import dataclass


@dataclass(frozen=True)
class TrainingFlag:
    """A profile's training_flag: the mode ('training' or 'inference') each context gives a call without the flag;
    whether trainable=False puts BatchNormalization in inference mode; whether an explicit flag holds under fit."""

    direct_call: str
    fit: str
    predict: str
    evaluate: str
    frozen_batchnorm_inference: bool
    explicit_flag_kept: bool

    @classmethod
    def of(cls, profile) -> "TrainingFlag":
        """The rule a profile states (read at each call: a rerun overrides the profile)."""
        return cls(**{field: profile.get(f"training_flag.{field}") for field in cls.__dataclass_fields__})

    def training(self, context: str, flag: bool | None, trainable: bool = True) -> bool:
        """Whether the layer trains: False if frozen and frozen_batchnorm_inference; else the context's mode when the
        flag is None or, under fit, not explicit_flag_kept (fit overrides it); else the flag."""
        if not trainable and self.frozen_batchnorm_inference:
            return False
        if flag is None or (context == "fit" and not self.explicit_flag_kept):
            return getattr(self, context) == "training"
        return flag
