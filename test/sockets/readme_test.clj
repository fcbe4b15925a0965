(ns sockets.readme-test
  "The README's examples run as written."
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is use-fixtures]]
            [sockets.test-util :as u]))

(use-fixtures :once u/fd-fixture)

(defn- example-block [marker]
  (let [readme (slurp "README.md")
        start (str/index-of readme marker)
        end (str/index-of readme "```" start)]
    (subs readme start end)))

(deftest property-testing-example-runs-as-written
  (let [code (example-block ";; example: property-testing")
        ns-sym (gensym "readme-example")
        result (binding [*ns* (create-ns ns-sym)]
                 (refer-clojure)
                 (load-string code)
                 @(ns-resolve ns-sym 'result))]
    (is (false? (:pass? result)) "the naive reader is caught")
    (is (<= (count (first (get-in result [:shrunk :smallest]))) 3) (pr-str (:shrunk result)))
    (remove-ns ns-sym)))

(deftest quick-start-runs-as-written
  (let [ns-sym (gensym "readme-quick-start")]
    (binding [*ns* (create-ns ns-sym)]
      (refer-clojure)
      (load-string (example-block ";; example: quick start"))
      (is (.isClosed ^sockets.Socket @(ns-resolve ns-sym 'c)) "the example closes its sockets")
      (is (.isClosed ^sockets.Socket @(ns-resolve ns-sym 'l))))
    (remove-ns ns-sym)))
