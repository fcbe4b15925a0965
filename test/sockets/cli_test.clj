(ns sockets.cli-test
  "The command line driven as a subprocess (a JVM on this test's classpath)."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [sockets.core :as s]
            [sockets.test-util :as u])
  (:import (java.io File)
           (java.util Arrays Random)
           (java.util.concurrent TimeUnit)))

(use-fixtures :once u/fd-fixture)

(defn- java-bin [] (str (System/getProperty "java.home") "/bin/java"))

(defn- start
  "Starts `sockets.cli` with args; stdin from `in-file` (or nothing)."
  ^Process [args & {:keys [in-file out-file]}]
  (let [pb (ProcessBuilder. ^java.util.List (into [(java-bin) "-cp" (System/getProperty "java.class.path")
                                                   "clojure.main" "-m" "sockets.cli"] args))]
    (if in-file (.redirectInput pb ^File in-file) (.redirectInput pb (java.lang.ProcessBuilder$Redirect/from (File. "/dev/null"))))
    (when out-file (.redirectOutput pb ^File out-file))
    (.start pb)))

(defn- close-streams
  "Closes the pipes to and from p (they are fds of this JVM until closed)."
  [^Process p]
  (.close (.getOutputStream p))
  (.close (.getInputStream p))
  (.close (.getErrorStream p)))

(defn- finish
  "Waits (bounded) for p; returns {:exit :out :err}."
  [^Process p]
  (let [out (future (slurp (.getInputStream p)))
        err (future (slurp (.getErrorStream p)))]
    (try
      (if (.waitFor p 60 TimeUnit/SECONDS)
        {:exit (.exitValue p) :out (deref out 10000 "") :err (deref err 10000 "")}
        (do (.destroyForcibly p) {:exit :timeout :out "" :err ""}))
      (finally (close-streams p)))))

(defn- run-cli [& args] (finish (start args)))

(defn- free-port []
  (with-open [l (u/listener)] (s/sockaddr-port (s/socket-name l))))

(defn- wait-listening
  "Waits until the listener process prints its address on stderr (bounded)."
  [^Process p]
  (let [r (io/reader (.getErrorStream p))]
    (loop [i 0]
      (let [line (.readLine ^java.io.BufferedReader r)]
        (cond (nil? line) nil
              (str/starts-with? line "listening on") line
              (< i 100) (recur (inc i)))))))

(deftest listen-and-connect-move-a-file-byte-exact
  (u/with-temp-dir [d]
    (let [src (File. d "in.bin")
          dst (File. d "out.bin")
          data (let [b (byte-array (* 3 1024 1024))] (.nextBytes (Random. 1) b) b)
          port (str (free-port))]
      (io/copy data src)
      (let [listener (start ["listen" port] :out-file dst)]
        (is (wait-listening listener))
        (let [client (finish (start ["connect" "127.0.0.1" port] :in-file src))]
          (is (= 0 (:exit client)) (:err client)))
        (is (.waitFor listener 60 TimeUnit/SECONDS))
        (close-streams listener)
        (is (= 0 (.exitValue listener)))
        (is (Arrays/equals data (java.nio.file.Files/readAllBytes (.toPath dst))))))))

(deftest unix-listen-and-connect
  (u/with-temp-dir [d]
    (let [path (str d "/cli.sock")
          src (doto (File. d "in.txt") (spit "over a unix socket\n"))
          dst (File. d "out.txt")
          listener (start ["listen" "--unix" path] :out-file dst)]
      (is (wait-listening listener))
      (is (= 0 (:exit (finish (start ["connect" "--unix" path] :in-file src)))))
      (is (.waitFor listener 60 TimeUnit/SECONDS))
      (close-streams listener)
      (is (= "over a unix socket\n" (slurp dst))))))

(deftest lookup-reverse-options
  (let [{:keys [exit out]} (run-cli "lookup" "localhost")]
    (is (= 0 exit))
    (is (str/includes? out "127.0.0.1")))
  (let [{:keys [exit out]} (run-cli "reverse" "127.0.0.1:80")]
    (is (= 0 exit))
    (is (= "localhost http" (str/trim out))))
  (let [{:keys [exit out]} (run-cli "options" "--type" "stream")]
    (is (= 0 exit))
    (is (str/includes? out ":tcp/nodelay false"))))

(deftest bad-arguments-exit-2
  (doseq [args [["frobnicate"] ["connect"] ["connect" "localhost" "99999"] ["listen" "--bogus" "1"]
                ["options" "--family" "appletalk"] ["connect" "--timeout" "soon" "localhost" "1"]]]
    (let [{:keys [exit err]} (apply run-cli args)]
      (is (= 2 exit) (pr-str args))
      (is (= 1 (count (remove str/blank? (str/split-lines err)))) (str "one line: " (pr-str err))))))

(deftest network-errors-exit-1
  (let [{:keys [exit err]} (run-cli "connect" "127.0.0.1" (str (free-port)))]
    (is (= 1 exit))
    (is (str/includes? err "connection refused"))))

(deftest help
  (is (str/includes? (:out (run-cli "--help")) "connect"))
  (is (str/includes? (:out (run-cli "listen" "--help")) "usage: sockets listen")))
