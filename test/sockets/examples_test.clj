(ns sockets.examples-test
  "Every example under dev/examples runs (loaded by path, so it works on any classpath)."
  (:require [clojure.test :refer [deftest is use-fixtures]]
            [sockets.core]
            [sockets.test-util :as u]))

(defn- settled-fd-fixture
  "Like u/fd-fixture, for examples whose sockets the event loop closes asynchronously: the
  shared loop (its epoll and eventfd live as long as it does) is started before the baseline,
  and the count may settle for up to 2 s after the examples finish."
  [f]
  (.execute (sockets.EventLoop/shared) ^Runnable (fn [])) ; starts it: its epoll and eventfd open now
  (u/fd-count) ; the glibc resolver's own socket, too:
  (sockets.core/address-information "localhost" 80)
  (let [before (u/fd-targets)]
    (f)
    (let [after (u/settled-fd-targets before 2000)]
      (is (<= (count after) (count before)) (str "leaked fds: " (apply dissoc after (keys before)))))))

(use-fixtures :once settled-fd-fixture)

(defn- example [file sym]
  (load-file (str "dev/examples/" file))
  (resolve sym))

(deftest echo (is (= ["hello" "echo"] ((example "echo.clj" 'examples.echo/run) ["hello" "echo"]))))

(deftest udp
  (doseq [host ["127.0.0.1" "::1"]]
    (let [[req reply src] ((example "udp.clj" 'examples.udp/run) host)]
      (is (= ["ping" "pong"] [req reply]))
      (is (= host (:address src))))))

(deftest unix (is (= ["OVER A UNIX SOCKET" "OVER A UNIX SOCKET"] ((example "unix.clj" 'examples.unix/run)))))

(deftest async-pipeline
  (is (= "HELLO, PIPELINE" ((example "async_pipeline.clj" 'examples.async-pipeline/run) "hello, pipeline"))))

(deftest options
  (is (= {:so/reuseaddr true :tcp/nodelay true :so/keepalive true :so/linger {:on? true :seconds 3} :so-type :sock/stream}
         ((example "options.clj" 'examples.options/run)))))

(deftest generators (is (= [true true] ((example "generators.clj" 'examples.generators/run)))))
