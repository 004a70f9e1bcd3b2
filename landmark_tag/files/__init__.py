"""Files and what is in them, local or in a bucket: storage (`storage`), photos found (`discover`)
and opened (`images`), the scan's output (`results`) and the default places of models and data
(`paths`). No model, no pipeline."""
