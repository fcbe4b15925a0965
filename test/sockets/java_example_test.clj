(ns sockets.java-example-test
  "doc/java.md's whole Java program, compiled as written (javax.tools, against the test
  classpath) and run: a listener, a connection, a message each way."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is use-fixtures]]
            [sockets.test-util :as u])
  (:import (java.io ByteArrayOutputStream File PrintStream)
           (java.net URLClassLoader URL)
           (javax.tools ToolProvider)))

(set! *warn-on-reflection* true)

(use-fixtures :once u/fd-fixture)

(defn- java-program
  "The ```java block of doc/java.md that declares a public class with main: [class-name source]."
  []
  (let [md (slurp "doc/java.md")
        blocks (map second (re-seq #"(?s)```java\n(.*?)```" md))
        src (first (filter #(str/includes? % "public static void main") blocks))]
    [(second (re-find #"public class (\w+)" src)) src]))

(deftest java-example-compiles-and-runs
  (let [[cls src] (java-program)]
    (is cls "doc/java.md has a public class with main")
    (u/with-temp-dir [d]
      (let [f (File. (str d) (str cls ".java"))
            _ (spit f src)
            errs (ByteArrayOutputStream.)
            rc (.run (ToolProvider/getSystemJavaCompiler) nil nil errs
                     (into-array String ["--release" "17" "-Xlint:all" "-Werror"
                                         "-cp" (System/getProperty "java.class.path")
                                         "-d" (str d) (str f)]))]
        (is (= 0 rc) (str "javac: " errs))
        (when (zero? rc)
          (let [out (ByteArrayOutputStream.)
                old System/out]
            (with-open [loader (URLClassLoader. (into-array URL [(.toURL (.toURI (io/file (str d))))])
                                                (.getContextClassLoader (Thread/currentThread)))]
              (try
                (System/setOut (PrintStream. out true "UTF-8"))
                (let [main (.getMethod (Class/forName ^String cls true loader) "main"
                                       (into-array Class [(Class/forName "[Ljava.lang.String;")]))]
                  (.invoke main nil (object-array [(make-array String 0)])))
                (finally (System/setOut old))))
            (let [lines (str/split-lines (.toString out "UTF-8"))]
              (is (re-matches #"listening on 127\.0\.0\.1:[0-9]+" (first lines)) (pr-str lines))
              (is (re-matches #"server got: hello from 127\.0\.0\.1:[0-9]+" (second lines)) (pr-str lines))
              (is (= "client got: HELLO" (nth lines 2 nil)) (pr-str lines)))))))))
