;; Runs the test suite on the current classpath the way `lein test` does with project.clj:
;; every namespace under the test dirs (args, default "test"), skipping ^:slow tests (the
;; :default test selector; .ci/deps-check.clj checks project.clj still says so).
;; Prints clojure.test's totals and exits 1 on any failure or error.
;;   java -cp "$(cat test.cp)" clojure.main .ci/test-runner.clj [test-dir ...]
(ns test-runner
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :as t]))

;; No (set! *warn-on-reflection* true) here: clojure.main would keep it on while the test
;; namespaces load, and they must load exactly as under `lein test`.

(defn- file-ns
  "Returns the namespace symbol that file f declares first, or nil."
  [f]
  (with-open [r (java.io.PushbackReader. (io/reader f))]
    (binding [*read-eval* false]
      (let [form (read {:eof nil :read-cond :allow} r)]
        (when (and (seq? form) (= 'ns (first form)) (symbol? (second form)))
          (second form))))))

(defn- test-nses
  "Returns the sorted namespace symbols of the .clj/.cljc files under dirs."
  [dirs]
  (->> dirs
       (mapcat #(file-seq (io/file %)))
       (filter #(let [n (.getName ^java.io.File %)]
                  (and (.isFile ^java.io.File %) (or (str/ends-with? n ".clj") (str/ends-with? n ".cljc")))))
       (keep file-ns)
       distinct
       sort))

(defn- selected?
  "lein test's :default selector, (complement :slow), on var meta merged over ns meta."
  [v]
  (not (:slow (merge (-> v meta :ns meta) (meta v)))))

(defn -main [& dirs]
  (let [dirs (or (seq dirs) ["test"])
        nses (test-nses dirs)]
    (println "test-runner: namespaces under" (str/join " " dirs) ":" (str/join " " nses))
    (run! require nses)
    ;; like lein: hide deselected tests by removing their :test metadata
    (let [skipped (for [n nses
                        v (vals (ns-interns n))
                        :when (and (:test (meta v)) (not (selected? v)))]
                    v)]
      (doseq [v skipped] (alter-meta! v dissoc :test))
      (when (seq skipped)
        (println "test-runner: skipping" (count skipped) "^:slow test(s)"))
      (let [{:keys [test pass fail error] :as summary}
            (if (seq nses) (apply t/run-tests nses) {:test 0 :pass 0 :fail 0 :error 0})]
        (when (zero? test)
          (println "test-runner: WARNING: no test ran"))
        (println (str "test-runner: " pass " passed, " (+ fail error) " failed"))
        (shutdown-agents)
        (System/exit (if (t/successful? summary) 0 1))))))

(apply -main *command-line-args*)
