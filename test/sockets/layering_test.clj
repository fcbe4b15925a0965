(ns sockets.layering-test
  "Cross-cutting: the library's namespaces form an acyclic stack, reached only through `ns`
  requires: no `requiring-resolve` of, or `alter-var-root` on, one of our own namespaces."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [sockets.test-util :as u])
  (:import (java.io PushbackReader)))

(use-fixtures :once u/fd-fixture)

(defn- sources []
  (->> (file-seq (io/file "src/clj"))
       (filter #(str/ends-with? (.getName ^java.io.File %) ".clj"))
       (sort-by str)))

(defn- ns-form [f]
  (with-open [r (PushbackReader. (io/reader f))]
    (binding [*read-eval* false] (read r))))

(defn- libspecs
  "[lib alias] of every lib a :require clause names (plain symbols, vectors, prefix lists)."
  [clause]
  (mapcat (fn [spec]
            (cond (symbol? spec) [[spec nil]]
                  (and (vector? spec) (symbol? (first spec))
                       (or (= 1 (count spec)) (keyword? (second spec))))
                  [[(first spec) (:as (apply hash-map (rest spec)))]]
                  (sequential? spec)          ; prefix list (prefix suffix ...)
                  (let [[prefix & more] spec]
                    (for [m more
                          :let [[sfx alias] (if (vector? m) [(first m) (:as (apply hash-map (rest m)))] [m nil])]]
                      [(symbol (str prefix "." sfx)) alias]))
                  :else []))
          (rest clause)))

(defn- requires [form]
  (->> form
       (filter #(and (seq? %) (= :require (first %))))
       (mapcat libspecs)))

(defn- graph
  "{ns #{sockets.* namespaces it requires}} and {ns {alias lib}} from every source file."
  []
  (let [forms (map ns-form (sources))]
    {:deps (into {} (for [f forms]
                      [(second f) (into #{} (comp (map first) (filter #(str/starts-with? (str %) "sockets.")))
                                        (requires f))]))
     :aliases (into {} (for [f forms]
                         [(second f) (into {} (keep (fn [[lib alias]] (when alias [(str alias) (str lib)])))
                                           (requires f))]))}))

(defn- cycle-from
  "A cycle reachable from `start` as a vector of namespaces, or nil."
  [deps start]
  (loop [stack [[start [start]]] seen #{}]
    (when-let [[n path] (peek stack)]
      (let [stack (pop stack)
            nexts (get deps n)]
        (if-let [back (some (set path) nexts)]
          (conj (subvec path (.indexOf ^java.util.List path back)) back)
          (recur (into stack (for [m nexts :when (not (seen m))] [m (conj path m)]))
                 (conj seen n)))))))

(deftest namespace-graph-is-acyclic
  (let [{:keys [deps]} (graph)]
    (is (contains? deps 'sockets.core))
    (is (every? #(str/starts-with? (str %) "sockets.") (keys deps)))
    (doseq [n (keys deps)]
      (is (nil? (cycle-from deps n)) (str "a require cycle: " (cycle-from deps n))))
    (testing "nothing in the library requires the programs; the tour is the top, above the CLI"
      (doseq [[n ds] deps :when (not= 'sockets.tour n)]
        (is (not-any? #{'sockets.cli 'sockets.tour} ds) (str n " requires a program namespace")))
      (is (contains? (get deps 'sockets.tour) 'sockets.cli) "the tour hands `lein run`'s arguments to the CLI"))
    (testing "the stack: lower layers never require the layers above them"
      (doseq [low '[sockets.constants sockets.impl.args sockets.address sockets.options sockets.io
                    sockets.messages sockets.datagrams sockets.platform sockets.impl.cmsg]]
        (is (not (contains? (get deps low) 'sockets.core)) (str low " requires sockets.core"))))))

(deftest no-runtime-resolution-between-our-namespaces
  (let [{:keys [aliases]} (graph)]
    (doseq [^java.io.File f (sources)
            :let [src (slurp f)
                  n (second (ns-form f))
                  ours? (fn [^String target]
                          (or (str/starts-with? target "sockets.")
                              (str/starts-with? (get-in aliases [n target] "") "sockets.")))]]
      (testing (str f)
        (doseq [[_ target] (re-seq #"requiring-resolve\s+(?:\(symbol\s+)?['\"]?([\w.\-]+)" src)]
          (is (not (ours? (first (str/split target #"/"))))
              (str f ": requiring-resolve of " target)))
        (doseq [[_ target] (re-seq #"alter-var-root\s+(?:#'|\(var\s+)([\w.\-]+)/" src)]
          (is (not (ours? target)) (str f ": alter-var-root on a var of " target)))))))
