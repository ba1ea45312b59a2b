"""What the command modules share: the job context (settings, engine, runs), the console, the data
window of a split, pairs and histories, side features, and the training data of the recipes."""
