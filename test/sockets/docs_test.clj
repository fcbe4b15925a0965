(ns sockets.docs-test
  "The quality bar: every public var has a docstring, and every egg name in the reference is
  a var of sockets.core (or a keyword constant / dynamic var, per the naming rules)."
  (:require [clojure.string :as str]
            [clojure.test :refer [deftest is use-fixtures]]
            [sockets.test-util :as u]
            [sockets.constants :as c]
            [sockets.core]))

(use-fixtures :once u/fd-fixture)

(def ^:private namespaces
  '[sockets.core sockets.address sockets.constants sockets.options sockets.io sockets.async
    sockets.gen sockets.proxy sockets.specs sockets.tour sockets.cli sockets.ext sockets.impl.cmsg])

(deftest every-public-var-has-a-docstring
  (doseq [n namespaces]
    (require n)
    (doseq [[sym v] (ns-publics n)
            :when (not (:private (meta v)))]
      (is (not (str/blank? (:doc (meta v)))) (str n "/" sym " has no docstring")))))

(def ^:private reference-file (java.io.File. "../shared/reference/socket-egg-api.md"))

(defn- reference-names []
  (let [ref (if (.exists reference-file) (slurp reference-file) "")]
    (distinct (for [[_ kind nm] (re-seq #"(?m)^\s+(procedure|constant|parameter|record): `\(?([^ `)]+)" ref)]
                [kind nm]))))

(defn- clojure-name [nm] (-> nm (str/replace "i/o" "io") (str/replace "/" "-")))

(deftest every-egg-name-exists
  (let [names (reference-names)]
    (if (empty? names)
      (println "SKIP every-egg-name-exists: no reference at" (.getPath reference-file) "(it lies beside the project in CI and in the main checkout)")
      (doseq [[kind nm] names]
        (case kind
          "constant" (let [kw (keyword nm)
                           kind (keyword (namespace kw))
                           kind (if (= :sol kind) :sol kind)]
                       (is (contains? (get c/tables kind) kw) (str nm " is not a known constant")))
          "parameter" (is (:dynamic (meta (ns-resolve 'sockets.core (symbol (str "*" nm "*"))))) (str nm " has no dynamic var"))
          "record" nil ; records are maps or Java classes, listed in the README
          "procedure" (is (ns-resolve 'sockets.core (symbol (clojure-name nm))) (str nm " is not in sockets.core")))))))
