(ns sockets.property-testing-doc-test
  "doc/property-testing.md's examples run as written: its ```clojure blocks are evaluated in
  order in one fresh namespace, and each `;=> value` after a form (on its line or the next)
  must equal the form's value, unless the value begins with `e.g.`."
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [sockets.test-util :as u]))

(use-fixtures :once u/fd-fixture)

(def ^:private doc-file "doc/property-testing.md")

(defn code-blocks
  "The text of each ```clojure block of markdown `text`, in order."
  [text]
  (map second (re-seq #"(?s)```clojure\n(.*?)```" text)))

(defn- with-expectations
  "Block text with each `;=> value` comment turned into a form (expect \"value\"), so that
  reading the block yields forms and expectations in order."
  [block]
  (str/replace block #";=>[ \t]*([^\n]*)" (fn [[_ v]] (str " (expect " (pr-str v) ")"))))

(defn- expectation [form]
  (when (and (seq? form) (= 'expect (first form))) (second form)))

(defn run-blocks
  "Evaluates `blocks` in order in a fresh namespace; returns [[form-text expected actual] ...]
  for each checked `;=>`."
  [blocks]
  (let [ns-sym (gensym "property-testing-doc")
        checks (atom [])]
    (try
      (binding [*ns* (create-ns ns-sym)]
        (refer-clojure)
        (doseq [block blocks]
          (let [rdr (clojure.lang.LineNumberingPushbackReader. (java.io.StringReader. (with-expectations block)))]
            (loop [last-form nil last-value nil]
              (let [form (read {:eof ::eof} rdr)]
                (when-not (= ::eof form)
                  (if-let [raw (expectation form)]
                    (do (when-not (str/starts-with? raw "e.g.")
                          (swap! checks conj [(pr-str last-form) (read-string raw) last-value]))
                        (recur last-form last-value))
                    (recur form (eval form)))))))))
      @checks
      (finally (remove-ns ns-sym)))))

(deftest every-example-runs-and-shows-its-result
  (let [blocks (code-blocks (slurp doc-file))
        checks (run-blocks blocks)]
    (is (<= 6 (count blocks)) "the examples were found")
    (is (<= 10 (count checks)) "the ;=> results were found")
    (doseq [[form expected actual] checks]
      (testing form (is (= expected actual))))))
