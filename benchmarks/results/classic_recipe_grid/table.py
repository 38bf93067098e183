import csv, json, subprocess
print("Classic-task recipe grid: validation set (100 tasks, mean actions), normalised score (random 0, Bayes 1).")
print("base = the recipe of policies/hyperparams/default.yml at 500k steps (the zoo's cards before this grid);")
print("long = the same file at 1.5M steps (sweeps/classic_recipe_grid.yml). best = the curve's best, end = its last point.")
print(f"{'task':<16}{'policy':<7}{'seed':>5}{'base best':>11}{'base end':>10}{'long best':>11}{'long end':>10}")
for env in ("NMN-Bandit-v0","NMN-TwoStep-v0","NMN-Harlow-v0"):
    for pol in ("nmn","rnn"):
        for seed in (0,1,2):
            card=json.loads(subprocess.run(["git","show",f"456e6cb:policies/zoo/{env}/{pol}-seed{seed}.json"],capture_output=True,text=True).stdout)
            base=[p["score"] for p in card["curve"]]
            f=f"benchmarks/results/classic_recipe_grid/{env}-{pol}-long-seed{seed}.csv"
            long_=[float(r["normalised_score"]) for r in csv.DictReader(open(f))]
            print(f"{env:<16}{pol:<7}{seed:>5}{max(base):>11.3f}{base[-1]:>10.3f}{max(long_):>11.3f}{long_[-1]:>10.3f}")
