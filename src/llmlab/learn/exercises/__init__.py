"""The stub files a learner starts from, one folder per project (copied by `llmlab learn start`)."""
