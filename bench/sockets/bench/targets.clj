(ns sockets.bench.targets
  "The targets table: issue 16's speed targets (sockets/NIO ratios, higher is better) checked
  against the rows of this run, so a fresh `lein bench --out bench/RESULTS.md` fills it in
  from its own figures. A target whose rows did not run (--only) says so."
  (:require [clojure.string :as str]))

(set! *warn-on-reflection* true)

(def issue-16
  "Each target: what it asks, the row keys it is judged on (every placement they ran in), and
  the least per-row median sockets/NIO ratio that meets it."
  [{:target "async echo, N connections, core.async's default dispatch >= 0.8"
    :keys ["async-echo"] :min 0.8}
   {:target "core.async ping-pong RTT >= 0.5 of NIO blocking"
    :keys ["async-pingpong"] :min 0.5}
   {:target "async echo server CPU per echo >= 0.7"
    :keys ["async-echo-cpu"] :min 0.7}
   {:target "ping-pong on EventLoop handlers >= 0.95"
    :keys ["loop-pingpong"] :min 0.95}
   {:target "default (egg) mode ping-pong and UDP >= 0.95"
    :keys ["pingpong-1" "pingpong-64" "udp"] :min 0.95}
   {:target "blocking mode (set-socket-blocking!) ping-pong and UDP >= 1.0"
    :keys ["pingpong-1-blocking" "pingpong-1-direct-blocking" "pingpong-64-blocking" "udp-blocking" "udp-direct-blocking"]
    :min 1.0}
   {:target "batched UDP (socket-receive-many!/socket-send-many) >= 1.3 in both placements"
    :keys ["udp-batched"] :min 1.3}])

(defn- ratio-text
  "\"key placement: median (min-max)\" of one summarized row."
  [{:keys [key placement ratio min max]}]
  (format "%s %s: %s (%s-%s)" key placement
          (if ratio (format "%.2f" (double ratio)) "-")
          (if min (format "%.2f" (double min)) "-")
          (if max (format "%.2f" (double max)) "-")))

(defn- verdict
  "\"yes\", \"no: <the rows short of it>\", or \"not run\" for one target over its rows."
  [{:keys [min]} rows]
  (let [short (remove #(and (:ratio %) (>= (double (:ratio %)) (double min))) rows)]
    (cond (empty? rows) "not run"
          (empty? short) "yes"
          :else (str "no: " (str/join ", " (map #(str (:key %) " " (:placement %)) short))))))

(defn lines
  "Markdown lines of the targets table for the summarized rows of this run (maps with :key
  :placement :ratio :min :max); the targets table of issue 16, one line per target."
  [summaries]
  (into ["" "## Targets (issue 16) against this run" ""
         "sockets/NIO per-round median (min-max) of each row the target is judged on; met when every median reaches it."
         ""
         "| target | this run | met? |"
         "|---|---|---|"]
        (for [t issue-16
              :let [rows (filter #(some #{(:key %)} (:keys t)) summaries)]]
          (str "| " (:target t) " | " (if (seq rows) (str/join "; " (map ratio-text rows)) "-") " | "
               (verdict t rows) " |"))))
