(ns api-docs
  "`lein docs`: the API reference as HTML from the docstrings and arglists of the public
  namespaces (every namespace under src/clj except sockets.impl.*), written to target/doc/api/
  (index.html and one page per namespace). Needs nothing beyond Clojure (codox lives on
  Clojars, which is not reachable everywhere)."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]))

(set! *warn-on-reflection* true)

(defn- esc [s]
  (-> (str s) (str/replace "&" "&amp;") (str/replace "<" "&lt;") (str/replace ">" "&gt;")))

(defn public-namespaces
  "Symbols of the documented namespaces: every .clj file under src/clj outside sockets/impl."
  []
  (->> (file-seq (io/file "src/clj"))
       (map #(.getPath ^java.io.File %))
       (filter #(str/ends-with? % ".clj"))
       (remove #(str/includes? % "/impl/"))
       (map #(-> % (subs (count "src/clj/")) (str/replace #"\.clj$" "") (str/replace "/" ".") (str/replace "_" "-") symbol))
       sort))

(defn- page [title body]
  (str "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" (esc title) "</title>"
       "<style>body{font-family:sans-serif;max-width:60em;margin:auto}pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap}"
       "h3{margin-bottom:.2em}code{color:#444}</style></head><body>" body "</body></html>\n"))

(defn- file-name [ns-sym] (str ns-sym ".html"))

(defn- var-html [[sym v]]
  (let [m (meta v)]
    (str "<h3 id=\"" (esc sym) "\">" (esc sym) (when (:macro m) " <small>(macro)</small>")
         (when (:dynamic m) " <small>(dynamic)</small>") "</h3>"
         (str/join (for [al (:arglists m)] (str "<code>" (esc (cons sym al)) "</code><br>")))
         "<pre>" (esc (or (:doc m) "(no docstring)")) "</pre>")))

(defn ns-page
  "The HTML page of one loaded namespace: its docstring, then each public var in name order."
  [ns-sym]
  (let [n (the-ns ns-sym)
        vars (sort-by key (ns-publics n))]
    (page (str ns-sym)
          (str "<p><a href=\"index.html\">index</a></p><h1>" (esc ns-sym) "</h1><pre>" (esc (:doc (meta n))) "</pre>"
               "<p>" (str/join " " (for [[s _] vars] (str "<a href=\"#" (esc s) "\">" (esc s) "</a>"))) "</p>"
               (str/join (map var-html vars))))))

(defn -main
  "Writes target/doc/api/index.html and a page per public namespace; prints the index path."
  [& _]
  (let [out (io/file "target/doc/api")
        nss (public-namespaces)]
    (.mkdirs out)
    (doseq [n nss]
      (require n)
      (spit (io/file out (file-name n)) (ns-page n)))
    (spit (io/file out "index.html")
          (page "sockets API"
                (str "<h1>sockets API</h1><ul>"
                     (str/join (for [n nss]
                                 (str "<li><a href=\"" (file-name n) "\">" (esc n) "</a> "
                                      (esc (first (str/split-lines (or (:doc (meta (the-ns n))) "")))) "</li>")))
                     "</ul>")))
    (println "API reference:" (str (io/file out "index.html")))
    (shutdown-agents)))
