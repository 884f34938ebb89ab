"""Peer values for fibstack's random forest (tests/classify_peer.rs).

scikit-learn RandomForestClassifier with fibstack's hyper-parameters (100 trees, max_depth 14,
min_samples_leaf 5, max_features sqrt, bootstrap, class_weight balanced_subsample) on the
feature matrices written by `cargo test --release --test classify_peer write_peer_data --
--ignored` (fixtures/peer/classify_{train,test}_{x,y}.npy, shapes (1, n, F) and (1, 1, n)).
Run: /work/venv/bin/python benches/compare/classify_sklearn.py  (from the repo root)
"""
import json
import numpy as np
import sklearn
from sklearn.ensemble import RandomForestClassifier

d = "fixtures/peer/"
xt = np.load(d + "classify_train_x.npy")[0]
yt = np.load(d + "classify_train_y.npy").ravel()
xs = np.load(d + "classify_test_x.npy")[0]
ys = np.load(d + "classify_test_y.npy").ravel()
accs, oobs = [], []
for seed in range(3):
    rf = RandomForestClassifier(n_estimators=100, max_depth=14, min_samples_leaf=5,
                                max_features="sqrt", bootstrap=True, oob_score=True,
                                class_weight="balanced_subsample", random_state=seed, n_jobs=2)
    rf.fit(xt, yt)
    accs.append(float((rf.predict(xs) == ys).mean()))
    oobs.append(float(rf.oob_score_))
out = {"sklearn": sklearn.__version__, "train_samples": int(len(yt)), "test_samples": int(len(ys)),
       "features": int(xt.shape[1]), "test_accuracy": float(np.mean(accs)),
       "test_accuracy_per_seed": accs, "oob_accuracy": float(np.mean(oobs))}
json.dump(out, open(d + "classify_sklearn.json", "w"), indent=1)
print(out)
